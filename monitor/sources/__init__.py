"""Reading the token registry from the application's own database, and writing refreshes back."""

from monitor.sources.job import SourceError, SourcesComponent, SourcesSettings, select_sources, sync_source

__all__ = ["SourceError", "SourcesComponent", "SourcesSettings", "select_sources", "sync_source"]
