"""Events: built in the same transaction as the state change, relayed by an outbox."""
