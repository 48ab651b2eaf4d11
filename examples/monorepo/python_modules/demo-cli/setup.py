from setuptools import setup

# The version lives in demo_cli/version.py, as in Dagster's packages.
version = {}
with open("demo_cli/version.py") as f:
    exec(f.read(), version)

setup(
    name="demo-cli",
    version=version["__version__"],
    description="Command line of the sample monorepo",
    packages=["demo_cli"],
    install_requires=["demo-core==0.1.0"],
)
