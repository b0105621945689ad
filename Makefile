# orderpulse — the two commands a newcomer needs:
#   make run    install what is missing, build, start `orderpulse dev`
#   make test   install what is missing, build with sanitizers, run every test suite
JOBS ?= $(shell nproc)
BUILD ?= build
TEST_BUILD ?= build-test
CMAKE_FLAGS ?=

.PHONY: all build run test test-build deps deps-run unit integration bench format format-check clean

all: build

deps-run:
	@scripts/install-deps.sh --run

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null

build: deps-run $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) --target orderpulse

run: build
	./$(BUILD)/orderpulse dev $(ARGS)

$(TEST_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DOP_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null

test-build: deps $(TEST_BUILD)/Makefile
	@cmake --build $(TEST_BUILD) -j $(JOBS)

# Every suite, against the servers scripts/run-tests.sh starts and stops.
# One suite or test alone: scripts/run-tests.sh unit|integration [pytest -k NAME]
# The release binary is built too: the optimiser finds warnings (-Werror) that the
# sanitizer build does not, and it is what `make run` starts.
test: test-build build
	@scripts/run-tests.sh all

unit: test-build
	@scripts/run-tests.sh unit

integration: test-build
	@scripts/run-tests.sh integration

bench: build
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
