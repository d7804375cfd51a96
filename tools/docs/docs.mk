# The documentation site (issue 23): MkDocs + Material in their own venv (dev only).
#   make docs             regenerate nothing; build docs/ into build/site with --strict
#   make docs-reference   rewrite the generated reference pages (settings, template parameters)
#   make docs-check       build, serve build/site on loopback, headless Chromium: text + screenshots
# `make test` builds the site (a broken link, page or anchor fails it); the stale-page check is
# a unit test (tests/docs/test_reference.py).
DOCS_VENV := build/docs-venv

$(eval $(call tool_venv,$(DOCS_VENV),requirements/docs.txt))

.PHONY: docs docs-reference docs-check
# Not --quiet: it hides the warnings that --strict counts, and the build then passes regardless.
docs: $(DOCS_VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

docs-reference: venv
	$(PY) -m tools.docs.reference

docs-check: docs
	$(PY) -m tools.docs.browser_check build/site --out build/docs-check

test: docs
