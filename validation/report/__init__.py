"""`cdverify report`: the profiles, the stages over the study registry, the Markdown and the
self-contained HTML report. The top floor beside the CLI."""

from .build import PROFILES, build

__all__ = ["PROFILES", "build"]
