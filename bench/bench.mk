# Benchmarks (issue 6). `make bench`: the full run (<= 10 min on 2 cores): table on stdout,
# JSON + Markdown + PNG in bench/results/ (gitignored). `make bench-smoke`: the same code on
# tiny sizes (seconds), to bench/results/smoke/; `make test` runs it through tests/bench/.
# Figures never fail a target; a section that crashes does.
BENCH_VENV := build/bench-venv

$(eval $(call tool_venv,$(BENCH_VENV),bench/requirements.txt))

# CTranslate2, a bake-off candidate: its converter reads the torch weights, so it goes into the
# export venv (bench only; the model build and the function never import it).
CT2_STAMP := $(EXPORT_VENV)/.ctranslate2
$(CT2_STAMP): $(EXPORT_VENV)/.installed
	$(EXPORT_PY) -m pip install -q ctranslate2==4.6.2
	touch $@

.PHONY: bench bench-smoke bench-venv
bench-venv: $(BENCH_VENV)/.installed $(CT2_STAMP)

bench: setup bench-venv
	$(PY) -m bench.run

bench-smoke: setup bench-venv
	$(PY) -m bench.run --smoke

# The smoke test in tests/bench/ needs the bench venv (fastembed, matplotlib). CTranslate2 goes
# into the export venv after the model build, which runs from that venv.
TEST_INSTALLS += $(BENCH_VENV)/.installed
TEST_BUILDS += $(CT2_STAMP)
