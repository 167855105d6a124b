"""Inspector credentials: a Threads tester's user token, or the app token TH|<app_id>|<app_secret>."""


def app_inspector(app_id: str, app_secret: str) -> str:
    """The app token that debug_token accepts as its caller credential."""
    return f"TH|{app_id}|{app_secret}"
