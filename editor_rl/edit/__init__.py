"""Pure edit layer: edit plans and their EDL JSON, rendering, and baseline editors. No Ray."""

from editor_rl.edit.plan import EditPlan, Segment
from editor_rl.edit.render import render_plan, render_segments

__all__ = ["EditPlan", "Segment", "render_plan", "render_segments"]
