# A thin wrapper for people who type `make`: everything real is in CMake and build.sh.
.PHONY: all test demo bench clean
all:
	bash build.sh build
test:
	bash build.sh test
demo:
	bash build.sh demo
bench:
	bash build.sh bench
clean:
	rm -rf build build-asan build-fuzz
