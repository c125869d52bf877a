"""Scheduled jobs: the orchestration a scheduled function runs, across the logic rooms
(payments, events, settlement, disbursements). Nothing below imports a job."""
