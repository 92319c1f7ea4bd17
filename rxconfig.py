import reflex as rx

from offamazon_ui.config import get_settings
from offamazon_ui.serving import respawn_crashed_workers

respawn_crashed_workers()

settings = get_settings()

config = rx.Config(
    app_name="offamazon_ui",
    db_url=settings.database_url,
    redis_url=settings.redis_url,
    api_url=settings.backend_url,
    deploy_url=settings.public_url,
    # Only our own origin may open the websocket or call backend routes with cookies.
    cors_allowed_origins=[settings.public_url],
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="orange", gray_color="slate", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
