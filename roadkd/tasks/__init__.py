"""LightningModules: cross-model teachers, the SSLKD student and the baselines."""

from .base import RoadTask
from .baselines import CPSStudents, MeanTeacherStudent, SupervisedStudent
from .optimization import Optimization
from .student import SSLKDStudent
from .teachers import CrossModelTeachers

__all__ = [
    "CPSStudents",
    "CrossModelTeachers",
    "MeanTeacherStudent",
    "Optimization",
    "RoadTask",
    "SSLKDStudent",
    "SupervisedStudent",
]
