"""The only Python that imports ipywidgets/anywidget: the LayerExplorer and the standalone panels."""
from .alignment import AlignmentWidget
from .attribution import AttributionWidget
from .explorer import LayerExplorer, LayerTree
from .featurevis import FeatureVisWidget
from .neurons import NeuronsWidget
from .physiology import PhysiologyWidget
from .rdm import RDMWidget

__all__ = ["LayerExplorer", "LayerTree", "FeatureVisWidget", "AttributionWidget", "AlignmentWidget", "RDMWidget",
           "NeuronsWidget", "PhysiologyWidget"]
