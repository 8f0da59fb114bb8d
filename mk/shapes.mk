# mk/shapes.mk - shapes that change every request (issue 17): a BERT-style
# encoder served by loomd with random batch and sequence lengths, checked
# against ONNX Runtime, with RSS, planning and packed-weight figures.
#
#   make test-shapes   the acceptance test: 2,000 requests (part of `make test`,
#                      about 2-3 minutes on two cores; SHAPES_REQUESTS=N for fewer)
#   make bench-shapes  2,000 requests (the acceptance run), then the same shapes
#                      in-process through loomctl and ONNX Runtime (and OpenVINO
#                      when build/venv has it): a table of figures and ratios

TEST_SUITES  += test-shapes
BENCH_SUITES += bench-shapes

BERT_MODEL := $(BUILD)/bert/model.onnx

.PHONY: test-shapes bench-shapes

# Exported at build time with Debian's PyTorch (random weights, fixed seed).
$(BERT_MODEL): tests/models/export_bert.py
	$(Q)/usr/bin/python3 tests/models/export_bert.py $@ 2>&1 | grep -v -i warn

SHAPES_TEST = $(VENV)/bin/python tests/loomd/shapes_test.py --loomd $(LOOMD) \
              --model $(BERT_MODEL) --work $(BUILD)/shapes-work

SHAPES_REQUESTS ?= 2000

test-shapes: $(LOOMD) $(BERT_MODEL) venv
	@$(SHAPES_TEST) --requests $(SHAPES_REQUESTS)

bench-shapes: $(LOOMD) $(BUILD)/bin/loomctl $(BERT_MODEL) venv
	@$(SHAPES_TEST) --requests 2000 --bench --loomctl $(BUILD)/bin/loomctl
