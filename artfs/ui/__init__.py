"""``artfs ui``: a local web app over the store.

Pages are rendered on the server (``routes``) from read views over the store
(``queries``, ``preview``, ``graphs``); ``auth`` guards every request (token, host,
CSRF) and ``edit`` changes versions through ``Artifact.save()``.  Nothing outside
this package imports it.
"""
