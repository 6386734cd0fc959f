"""The tasks of ``sk-cria benchmark``: each a loader, its protocols and its floors.

Adding a task is one module here that builds a :class:`Task` (picking floors
from :data:`~sk_cria.tasks.floors.FLOORS` or building its own with
:func:`~sk_cria.tasks.floors.floor`) and one line in :data:`TASKS`.
"""

from ._task import Entry, Task
from .eegmat import EEGMAT
from .eegmmidb_mi import EEGMMIDB_MI
from .floors import FLOORS, floor

#: Name (``--task``) -> :class:`Task`; the first is the default.
TASKS = {task.name: task for task in (EEGMAT, EEGMMIDB_MI)}

__all__ = ["Entry", "FLOORS", "TASKS", "Task", "floor"]
