"""`python -m careledger.contracts`: rebuild the shipped artifacts from the sources (`make artifacts`)."""

from careledger.contracts._compiler import ARTIFACTS, build_artifacts

for built in build_artifacts():
    print(f"{built.name:18} {len(built.bytecode):6} bytes  vyper {built.compiler_version}  -> {ARTIFACTS}")
