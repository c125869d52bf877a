"""The local stack (`make run`, tests): anvil chain, moto server, API emulator."""
