"""Cognito user pool for the admin console (``/admin`` routes)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.cdk.constants import (
    ACCESS_TOKEN_MINUTES,
    ADMIN_ROLES,
    PASSWORD_MIN_LENGTH,
    REFRESH_TOKEN_HOURS,
)
from shared import resources

ROLE_DESCRIPTIONS = {
    "viewer": "reads everything under /admin",
    "support": "viewer + redeliveries, rescans, tolerance, suspend/resume",
    "finance": "viewer + payouts, approvals (four eyes), gas funding",
    "admin": "viewer + merchants, API keys, settlement addresses, users' roles",
}


class Auth(Construct):
    """Admins only: no self sign-up; accounts are created by an operator
    (``aws cognito-idp admin-create-user``)."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "AdminPool",
            user_pool_name=resources.physical_name(prefix, resources.USER_POOL_LOGICAL),
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=False,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
                password_history_size=12,
            ),
            # Every console user moves money or decides who may: TOTP at every sign-in.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            # Threat protection (the old "advanced security", ENFORCED): compromised
            # credential checks and adaptive authentication for the people who can
            # create merchants and API keys. Needs the Plus feature plan.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Roles (docs/adr/0019): the admin API checks a route's roles against these groups.
        for role in ADMIN_ROLES:
            cognito.CfnUserPoolGroup(
                self,
                f"{role.capitalize()}Group",
                user_pool_id=self.user_pool.user_pool_id,
                group_name=role,
                description=ROLE_DESCRIPTIONS[role],
            )
        self.console_client = self.user_pool.add_client(
            "ConsoleClient",
            user_pool_client_name=f"{prefix}-console",
            generate_secret=False,  # a CLI / browser console cannot keep a secret
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.minutes(ACCESS_TOKEN_MINUTES),
            id_token_validity=Duration.minutes(ACCESS_TOKEN_MINUTES),
            refresh_token_validity=Duration.hours(REFRESH_TOKEN_HOURS),
        )
