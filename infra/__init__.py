"""Infrastructure as code for bscpay."""
