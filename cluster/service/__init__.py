"""The story service and its parts (see ``facade.py`` for how they fit)."""

from cluster.service.facade import ServiceClosed, StoryService
from cluster.service.view_builders import RelatedFilters, StoryQuery

__all__ = ["RelatedFilters", "ServiceClosed", "StoryQuery", "StoryService"]
