"""Node measurements at import: the format's one definition, ``cohortformat.measurements``.

Kept as a module so the import service's ``from readerstudy.cohorts.measurements import
measure_node`` stays valid; the generator's realism check uses the same function.
"""

from cohortformat.measurements import NodeMeasurements, axial_diameters, measure_node

__all__ = ["NodeMeasurements", "axial_diameters", "measure_node"]
