# SPDX-License-Identifier: GPL-2.0
"""The pinned outside inputs of tools/setup/pins, for the documents and
reports that name them (never typed by hand)."""
import os

PINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    'setup', 'pins')


def apt(pins=PINS):
    """{package: (version, suite)} of the file's "apt PKG VER [SUITE]" lines."""
    found = {}
    with open(pins, encoding='utf-8') as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[0] == 'apt':
                found[w[1]] = (w[2], w[3] if len(w) > 3 else '')
    return found


def kernel(base='7.3', pins=PINS):
    """'7.3.4', the upstream version of the pinned linux-source-BASE, or None."""
    try:
        version = apt(pins).get(f'linux-source-{base}')
    except OSError:
        return None
    return version[0].split('-')[0] if version else None


def kernel_base(base='7.3', pins=PINS):
    """'v7.3.4 (Debian linux-source-7.3 7.3.4-1~bpo13+1)', or None."""
    try:
        version = apt(pins).get(f'linux-source-{base}')
    except OSError:
        return None
    if not version:
        return None
    return f'v{version[0].split("-")[0]} (Debian linux-source-{base} {version[0]})'
