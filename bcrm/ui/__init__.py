"""The page toolkit every app's pages use: the ``@page`` decorator and form submission (shortcuts), the form
base classes and fields (forms, widgets), and the one chart layer (charts).

It sits on the layer just above accounts, below every domain app, and imports nothing of them: an app's pages
use it, and the composing app ``bcrm.web`` (home, My day, the 360° client page, search, navigation, the base
template and static files) sits at the top. Not a Django app: it has no models, templates or static files of
its own (the partials it renders, ``web/error.html`` and ``web/_chart.html``, are looked up by name).
"""
