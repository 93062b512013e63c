"""The trainer's guided session as data: six steps over the demo region, no Qt, no QGIS.

Each step names the dock tab to show, the ``objectName`` of the widget the participant clicks
(highlighted by ``gui.guided_session``) and a completion check by name; the GUI maps each check
name to a test on the project and the dock (``gui.guided_session.CHECKS``). Texts are English
source strings translated through :func:`core.i18n.tr` when :func:`steps` is called, so a French
QGIS shows them in French.
"""

from __future__ import annotations

from dataclasses import dataclass

from .i18n import tr

# the checks the GUI implements (a step naming another one is a bug caught by the unit tests)
CHECK_NAMES = (
    "catalog_results",
    "imagery_streamed",
    "detections_layer",
    "explanation_opened",
    "change_layer",
    "fibre_layer",
)
# the project entry ``make demo`` writes into the demo project (opening it offers the session)
DEMO_PROJECT_ENTRY = ("IdfHr", "/demo_project")
DEMO_PROJECT_FILE = "idf_hr_demo.qgz"
DEMO_MODEL_FILE = "idfhr_demo_detector.onnx"
# the dock's tabs, by the attribute holding them on ``IdfHrDock``
TABS = ("catalog_tab", "detection_tab", "opendata_tab", "fibre_tab", "analysis_tab")


@dataclass(frozen=True)
class GuidedStep:
    """One step: what to read, which tab, which widget to click, how to know it is done."""

    key: str
    title: str
    text: str
    tab: str
    target: str
    check: str


def steps() -> tuple[GuidedStep, ...]:
    """The six steps of the session, translated to the current language."""
    return (
        GuidedStep(
            "search",
            tr("Search the catalog"),
            tr(
                "The map shows the demo region. The Catalog tab is set on the demo catalog and the map "
                "extent: click Search to list the aerial images of this place."
            ),
            "catalog_tab",
            "catalogSearchButton",
            "catalog_results",
        ),
        GuidedStep(
            "stream",
            tr("Stream the imagery"),
            tr(
                "The images of both vintages at 20 cm are selected in the list: click Add to map to "
                "stream them into QGIS."
            ),
            "catalog_tab",
            "catalogAddButton",
            "imagery_streamed",
        ),
        GuidedStep(
            "detect",
            tr("Detect objects"),
            tr(
                "The bundled demo model will look for buildings, trees, pools and cars on the newest "
                "imagery, in the visible map extent, on this computer: click Run detection."
            ),
            "detection_tab",
            "detectionRunButton",
            "detections_layer",
        ),
        GuidedStep(
            "explain",
            tr("Explain a detection"),
            tr(
                "Why did the model see an object there? Click “Why this detection?”, then click an "
                "object found on the map: a window shows what the model saw, its scores and the "
                "classes it hesitated between."
            ),
            "detection_tab",
            "whyDetectionButton",
            "explanation_opened",
        ),
        GuidedStep(
            "change",
            tr("Find what changed"),
            tr(
                "The Analyse tab compares the two vintages with the same model: click Compare to map "
                "what appeared and disappeared between 2024 and 2026."
            ),
            "analysis_tab",
            "analysisCompareButton",
            "change_layer",
        ),
        GuidedStep(
            "fibre",
            tr("Map the fibre coverage"),
            tr(
                "The ARCEP fibre figures bundled with the plugin are selected: click Compute coverage "
                "to map the share of premises connectable to fibre in each commune."
            ),
            "fibre_tab",
            "fibreComputeButton",
            "fibre_layer",
        ),
    )


def step_label(index: int, step: GuidedStep, done: bool) -> str:
    """``"✓ 3. Detect objects"`` — the line of the step list (a tick once its check passed)."""
    return f"{'✓' if done else '○'} {index + 1}. {step.title}"
