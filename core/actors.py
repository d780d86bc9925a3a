"""Who did it: the one format of the ``actor`` written on every history event.

- a person (admin, desk or session API): ``user:<username>``
- an API key: ``api:<key prefix>``
- a part of the system: ``<component>`` or ``<component>:<detail>``
  (``routing:<worker>``, ``vicidial``, ``device:<id>``, ``broadcast``, ``demo``)
"""

from typing import Any


def user_actor(user: Any) -> str:
    return f"user:{user.get_username()}"


def api_key_actor(prefix: str) -> str:
    return f"api:{prefix}"


def system_actor(component: str, detail: object = None) -> str:
    return component if detail in (None, "") else f"{component}:{detail}"
