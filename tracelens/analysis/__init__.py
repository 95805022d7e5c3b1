"""Pure analyses of TraceFrames: requests, dwell, retry chains, fates, redeliveries, findings."""

from __future__ import annotations

from tracelens.analysis.explain import Story, explain
from tracelens.analysis.pipeline import AnalysisResults, analyse
from tracelens.analysis.story_events import StoryEvent

__all__ = ["AnalysisResults", "Story", "StoryEvent", "analyse", "explain"]
