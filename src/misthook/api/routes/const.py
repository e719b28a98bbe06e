"""Constants: topics, alarm definitions, device event definitions (no auth, as Mist)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from misthook.domain.alarm_defs import ALARM_DEFS
from misthook.domain.device_event_defs import DEVICE_EVENT_DEFS
from misthook.domain.topics import const_webhook_topics

router = APIRouter(prefix="/api/v1/const", tags=["Constants"])


@router.get("/webhook_topics", summary="The webhook topics and where they may be used")
async def webhook_topics() -> Any:
    return const_webhook_topics()


@router.get("/alarm_defs", summary="The alarm types")
async def alarm_defs() -> Any:
    return ALARM_DEFS


@router.get("/device_events", summary="The device event types")
async def device_events() -> Any:
    return DEVICE_EVENT_DEFS
