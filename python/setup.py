"""Builds the blindml package: the extension module blindml._blindml with CMake (the repository
above this directory: its libraries and python/src/bindings.cc), then the pure-Python package.

    pip install --no-build-isolation ./python         # into a venv: python3 -m venv --system-site-packages
    pip wheel --no-build-isolation --no-deps ./python -w dist    # a wheel (BLINDML_PORTABLE=1 for other CPUs)

Environment: BLINDML_SOURCE_DIR (the repository; default: the parent of this directory),
BLINDML_PORTABLE=1 (no -march=native), BLINDML_BUILD_JOBS (parallel compile jobs),
CMAKE_GENERATOR (default Ninja when ninja is installed).
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        source = os.environ.get("BLINDML_SOURCE_DIR", os.path.dirname(HERE))
        if not os.path.exists(os.path.join(source, "src", "deploy", "deploy.cc")):
            raise RuntimeError("blindml's C++ sources are not at %s: build from a checkout of the repository "
                               "(pip install ./python from its root) or set BLINDML_SOURCE_DIR" % source)
        build_dir = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        os.makedirs(build_dir, exist_ok=True)
        args = [
            "cmake", "-S", source, "-B", build_dir,
            "-DCMAKE_BUILD_TYPE=Release",
            "-DBLINDML_BUILD_TESTS=OFF", "-DBLINDML_BUILD_BENCH=OFF", "-DBLINDML_BUILD_PYTHON=ON",
            "-DPYTHON_EXECUTABLE=" + sys.executable,
            "-DBLINDML_PORTABLE=" + ("ON" if os.environ.get("BLINDML_PORTABLE") == "1" else "OFF"),
        ]
        if "CMAKE_GENERATOR" not in os.environ and shutil.which("ninja"):
            args += ["-G", "Ninja"]
        subprocess.check_call(args)
        build = ["cmake", "--build", build_dir, "--target", "_blindml"]
        jobs = os.environ.get("BLINDML_BUILD_JOBS")
        if jobs:
            build += ["--parallel", jobs]
        subprocess.check_call(build)
        built = [f for f in os.listdir(os.path.join(build_dir, "python")) if f.startswith("_blindml") and
                 f.endswith(".so")]
        if len(built) != 1:
            raise RuntimeError("expected one _blindml*.so in %s/python, found %s" % (build_dir, built))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(os.path.join(build_dir, "python", built[0]), target)


setup(
    name="blindml",
    version="0.1.0",
    description="Machine-learning inference on encrypted data (TFHE): compile fitted models, deploy client and server",
    long_description=open(os.path.join(HERE, "README.md")).read() if os.path.exists(os.path.join(HERE, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=["blindml", "blindml.deployment", "blindml.export"],
    ext_modules=[CMakeExtension("blindml._blindml")],
    cmdclass={"build_ext": CMakeBuild},
    install_requires=["numpy"],
    extras_require={"export": ["onnx", "scikit-learn"], "torch": ["torch", "onnx"], "xgboost": ["xgboost", "onnx"]},
    zip_safe=False,
)
