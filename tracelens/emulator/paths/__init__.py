"""The three invoke paths: synchronous, asynchronous and poll-based (SQS and streams)."""

from __future__ import annotations
