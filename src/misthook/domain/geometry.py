"""Plane geometry of maps and zones: points, polygons, and which zones hold a point.

A zone is a polygon of at least three vertices on a map, in map pixels. Positions arrive
in meters; ``to_pixels`` scales them by the map's ``ppm`` (pixels per meter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Point = tuple[float, float]
Polygon = tuple[Point, ...]


class GeometryError(ValueError):
    """A polygon or a point that cannot be used (the message says why)."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GeometryError(f"{what} must be a finite number")
    return float(value)


def parse_vertices(raw: Any) -> Polygon:
    """Mist's ``vertices: [{"x": .., "y": ..}, ...]`` as a polygon (at least 3 points)."""
    if not isinstance(raw, list) or len(raw) < 3:
        raise GeometryError("vertices must be a list of at least 3 {x, y} points")
    points: list[Point] = []
    for i, vertex in enumerate(raw):
        if not isinstance(vertex, Mapping):
            raise GeometryError(f"vertices[{i}] must be an object with x and y")
        points.append(
            (
                _number(vertex.get("x"), f"vertices[{i}].x"),
                _number(vertex.get("y"), f"vertices[{i}].y"),
            )
        )
    if abs(area(points)) == 0.0:
        raise GeometryError("vertices enclose no area")
    return tuple(points)


def area(polygon: Sequence[Point]) -> float:
    """Signed area (shoelace formula); positive when the vertices turn counter-clockwise."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(polygon, (*polygon[1:], polygon[0]), strict=True):
        total += x1 * y2 - x2 * y1
    return total / 2.0


def _on_segment(p: Point, a: Point, b: Point, eps: float = 1e-9) -> bool:
    cross = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    if abs(cross) > eps * max(1.0, math.dist(a, b)):
        return False
    return (min(a[0], b[0]) - eps <= p[0] <= max(a[0], b[0]) + eps) and (
        min(a[1], b[1]) - eps <= p[1] <= max(a[1], b[1]) + eps
    )


def contains(polygon: Sequence[Point], point: Point) -> bool:
    """Whether ``point`` is inside ``polygon`` or on its edge (even-odd ray casting).

    Points on an edge count as inside, so a client walking along a wall does not flap
    between enter and exit.
    """
    x, y = point
    inside = False
    for a, b in zip(polygon, (*polygon[1:], polygon[0]), strict=True):
        if _on_segment(point, a, b):
            return True
        (x1, y1), (x2, y2) = a, b
        if (y1 > y) != (y2 > y):
            x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < x_cross:
                inside = not inside
    return inside


def to_pixels(x_m: float, y_m: float, ppm: float) -> Point:
    """A position in meters as map pixels."""
    return (x_m * ppm, y_m * ppm)


def zones_at(zones: Iterable[tuple[str, Polygon]], point: Point) -> frozenset[str]:
    """Ids of the zones whose polygon holds ``point``."""
    return frozenset(zone_id for zone_id, polygon in zones if contains(polygon, point))


def transitions(before: frozenset[str], after: frozenset[str]) -> tuple[list[str], list[str]]:
    """``(entered, exited)`` zone ids, each sorted, between two memberships."""
    return sorted(after - before), sorted(before - after)
