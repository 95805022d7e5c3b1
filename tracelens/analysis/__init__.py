"""Pure analyses of TraceFrames: requests, dwell, retry chains, fates, redeliveries, findings."""

from __future__ import annotations

from tracelens.analysis.explain import Story, StoryEvent, explain
from tracelens.analysis.pipeline import AnalysisResults, analyse

__all__ = ["AnalysisResults", "Story", "StoryEvent", "analyse", "explain"]
