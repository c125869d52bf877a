"""bscpay's CDK app: one stack (``BscpayStack``) composed of one construct per area."""
