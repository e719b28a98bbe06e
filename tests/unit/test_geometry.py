"""Point-in-polygon and zone transitions."""

from __future__ import annotations

import pytest

from misthook.domain import geometry

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
# An L shape: the notch (6..10, 6..10) is outside.
ELL = ((0.0, 0.0), (10.0, 0.0), (10.0, 6.0), (6.0, 6.0), (6.0, 10.0), (0.0, 10.0))


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((5, 5), True),
        ((-1, 5), False),
        ((11, 5), False),
        ((5, 10.5), False),
        ((0, 5), True),
        ((10, 10), True),
        ((5, 0), True),
    ],
)
def test_square_inside_outside_and_edges(point: tuple[float, float], inside: bool) -> None:
    """Interior and edge points are inside; points beyond any side are not."""
    assert geometry.contains(SQUARE, point) is inside


def test_concave_polygon_excludes_its_notch() -> None:
    """A point in the notch of an L is outside; one in either arm is inside."""
    assert geometry.contains(ELL, (8, 8)) is False
    assert geometry.contains(ELL, (8, 3)) is True
    assert geometry.contains(ELL, (3, 8)) is True


def test_parse_vertices_rejects_bad_polygons() -> None:
    """Fewer than three points, non-numbers and zero area are refused with a reason."""
    with pytest.raises(geometry.GeometryError):
        geometry.parse_vertices([{"x": 0, "y": 0}, {"x": 1, "y": 1}])
    with pytest.raises(geometry.GeometryError):
        geometry.parse_vertices([{"x": 0, "y": 0}, {"x": "a", "y": 1}, {"x": 2, "y": 2}])
    with pytest.raises(geometry.GeometryError):
        geometry.parse_vertices([{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"x": 2, "y": 2}])
    assert geometry.parse_vertices([{"x": 0, "y": 0}, {"x": 4, "y": 0}, {"x": 0, "y": 3}]) == (
        (0.0, 0.0),
        (4.0, 0.0),
        (0.0, 3.0),
    )


def test_area_sign_and_value() -> None:
    """Counter-clockwise vertices give a positive area; reversed, the negative."""
    assert geometry.area(SQUARE) == 100.0
    assert geometry.area(tuple(reversed(SQUARE))) == -100.0


def test_zones_at_and_transitions() -> None:
    """Overlapping zones both hold a point; moving gives sorted entered/exited lists."""
    zones = [("a", SQUARE), ("b", ((5.0, 5.0), (15.0, 5.0), (15.0, 15.0), (5.0, 15.0)))]
    assert geometry.zones_at(zones, (7, 7)) == {"a", "b"}
    assert geometry.zones_at(zones, (12, 12)) == {"b"}
    before = geometry.zones_at(zones, (2, 2))
    after = geometry.zones_at(zones, (12, 12))
    assert geometry.transitions(before, after) == (["b"], ["a"])
    assert geometry.to_pixels(1.5, 2.0, 10.0) == (15.0, 20.0)
