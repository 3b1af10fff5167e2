# Both targets create the virtual environment and install pixelseg on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test docs figures bench-deps clean person-model person-fast

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/pixelseg demo --out runs/demo

# The page test drives Debian's chromium; as root we install it, elsewhere that test skips.
test: $(BIN)/.installed
	@command -v chromium >/dev/null || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium not installed: the browser test will skip"
	$(BIN)/python -m pytest -n 2 -q

# The documentation site into site/ (warnings are errors), and every figure it shows.
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

figures: $(BIN)/.installed
	$(BIN)/python docs/figures/make_figures.py

clean:
	rm -rf runs build *.egg-info

# Peers measured by bench/ only. mediapipe 0.10.14 pins protobuf<5, which would break onnx and
# tensorboard, so it goes in without its own dependencies (it needs only these two besides).
bench-deps: $(BIN)/.installed
	$(BIN)/pip install "segmentation-models-pytorch>=0.3.3"
	$(BIN)/pip install --no-deps "mediapipe==0.10.14" opencv-python-headless attrs
	$(BIN)/pip install ai-edge-litert  # runs MediaPipe's .tflite models as a distillation teacher (train --teacher mediapipe)

# The bundled person model (pixelseg/bundled/person.pt, docs/models.md): composites, training (75 min
# on 2 cores), then a slim fp16 checkpoint that records how it runs.
person-model: $(BIN)/.installed
	$(BIN)/pixelseg data composite --cutouts ../shared/datasets/person_cutouts --photos ../shared/datasets/human_seg \
		--count 4000 --out runs/person-data
	OMP_NUM_THREADS=1 $(BIN)/pixelseg train --config configs/person-bundled.yaml --data runs/person-data --out runs/person-bundled
	$(BIN)/pixelseg export --checkpoint runs/person-bundled/best.pt --slim pixelseg/bundled/person.pt --input-size 448 --refine guided

# Its video-call form (pixelseg/bundled/person-fast.onnx, live's default): person fine-tuned for
# camera frames in two stages of 28 minutes (configs/person-fast.yaml at a longer side of 320, then
# configs/person-fast-224.yaml at 224), as int8 ONNX at 384 px calibrated on 32 of human_seg's
# training photos.
person-fast: $(BIN)/.installed
	test -d runs/person-data || $(BIN)/pixelseg data composite --cutouts ../shared/datasets/person_cutouts \
		--photos ../shared/datasets/human_seg --count 4000 --out runs/person-data
	$(BIN)/pixelseg train --config configs/person-fast.yaml --data runs/person-data --out runs/person-fast
	$(BIN)/pixelseg train --config configs/person-fast-224.yaml --data runs/person-data --out runs/person-fast-224
	$(BIN)/pixelseg export --checkpoint runs/person-fast-224/best.pt --onnx pixelseg/bundled/person-fast.onnx --int8 \
		--calibrate ../shared/datasets/human_seg/images/train --input-size 384 --refine guided
