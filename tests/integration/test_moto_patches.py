"""The local stack's moto patch (shared/local/moto_patches.py): a cancelled
TransactWriteItems leaves every item it touched as it was, and only those; nothing
else in the table is rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from shared import aws
from shared.local.stack import LocalStack


@pytest.fixture
def table(stack: LocalStack) -> Iterator[str]:
    name = f"patch-probe-{uuid.uuid4().hex[:8]}"
    client = aws.client("dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield name
    client.delete_table(TableName=name)


def _item(table: str, pk: str, sk: str) -> dict[str, object] | None:
    got = aws.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
    )
    return got.get("Item")


def test_a_cancelled_transaction_restores_exactly_what_it_touched(table: str) -> None:
    client = aws.client("dynamodb")
    client.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
    client.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"S": "1"}, "n": {"N": "5"}})

    with pytest.raises(ClientError) as raised:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "2"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"pk": {"S": "b"}, "sk": {"S": "1"}},
                        "ConditionExpression": "n = :six",
                        "ExpressionAttributeValues": {":six": {"N": "6"}},
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(table, "new", "1") is None  # the put is undone
    assert _item(table, "a", "1") == {"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}}
    assert _item(table, "b", "1") == {"pk": {"S": "b"}, "sk": {"S": "1"}, "n": {"N": "5"}}


def test_a_committed_transaction_applies_every_write(table: str) -> None:
    client = aws.client("dynamodb")
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "c"}, "sk": {"S": "1"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "c"}, "sk": {"S": "2"}}}},
        ]
    )
    assert _item(table, "c", "1") is not None and _item(table, "c", "2") is not None
