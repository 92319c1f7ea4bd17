"""Page routes and backend paths, in one place so links never drift."""

REGISTER = "/register"
VERIFY = "/verify"
LOGIN = "/login"
FORGOT_PASSWORD = "/forgot-password"  # noqa: S105  a route
CONNECT_SHOPIFY = "/connect/shopify"
CONNECT_AMAZON = "/connect/amazon"
DASHBOARD = "/dashboard"
SETTINGS = "/settings"
DEV_MAILBOX = "/dev/mailbox"

# Backend (Starlette) endpoints, served on the backend port in dev and on the
# single port in production.
SESSION_COOKIE_ENDPOINT = "/auth/session"
LOGOUT_ENDPOINT = "/auth/logout"
HEALTH_ENDPOINT = "/healthz"
SHOPIFY_WEBHOOKS_ENDPOINT = "/webhooks/shopify"
SANDBOX_PREFIX = "/sandbox"

ONBOARDING_STEPS = (
    ("Register", REGISTER),
    ("Verify", VERIFY),
    ("Shopify", CONNECT_SHOPIFY),
    ("Amazon", CONNECT_AMAZON),
    ("Dashboard", DASHBOARD),
)
