"""`threads-token-monitor demo`: the real daemon against the built-in simulator (run.py), with a cast of
apps and tokens on every platform (cast.py)."""

from monitor.demo.cast import APPS, REVOKE_AFTER, TOKENS, DemoApp, DemoToken, seed
from monitor.demo.run import DEFAULT_LISTEN, Demo, build_config, demo_config_text, resolve_port, run_demo

__all__ = ["APPS", "DEFAULT_LISTEN", "REVOKE_AFTER", "TOKENS", "Demo", "DemoApp", "DemoToken", "build_config"]
__all__ += ["demo_config_text", "resolve_port", "run_demo", "seed"]
