"""Data access: the only place pynamodb and DynamoDB appear."""
