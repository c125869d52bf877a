"""The base of bscpay's pydantic models.

A model's validator is built the first time it is used, not when its module is imported
(``defer_build``): one request touches a handful of the ~90 models the API modules
define, and building all of them cost a Lambda cold start ~35 ms (issue 15 §1, ADR 0038).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
