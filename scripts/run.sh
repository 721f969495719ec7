#!/usr/bin/env bash
# The main job: installs what is missing, builds and installs Portcullis,
# then scans a demo folder with the bundled test signatures. (The SMTP
# gateway daemon replaces this with `portcullisd` once it exists.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
bash scripts/build.sh build -DCMAKE_INSTALL_PREFIX=/usr/local
cmake --install build >/dev/null
echo "installed: $(command -v portcullis-scan), signatures in /usr/local/share/portcullis/sigs"

demo=${DEMO_DIR:-$(pwd)/demo}
python3 scripts/make_demo.py "$demo"
echo
echo "== portcullis-scan -r $demo"
set +e
portcullis-scan -r "$demo"
rc=$?
set -e
echo
echo "exit status $rc (0 clean, 1 found, 2 errors): the demo folder holds two clean"
echo "files and five infected ones, so 1 is the expected result."
[ $rc -eq 1 ]
