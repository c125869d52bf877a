"""bscpay shared package: domain logic, data access and adapters used by every Lambda."""
