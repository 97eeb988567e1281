#!/usr/bin/env bash
# data_prep/fetch_gpt2_vocab.sh DIR: puts GPT-2's tokenizer files (encoder.json, vocab.bpe) in DIR.
#
# Copied from $DATA_MIRROR/gpt2/ when DATA_MIRROR is set (offline machines, CI), else
# downloaded from OpenAI's public bucket with curl (resumable, retried). Either way each
# file is checked against its sha256 (the values tiktoken pins for its "gpt2" encoding)
# and only then moved into place, so DIR never holds a damaged file under the real name.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
    echo "usage: bash data_prep/fetch_gpt2_vocab.sh DIR   (set DATA_MIRROR=FOLDER to copy FOLDER/gpt2/* instead of downloading)" >&2
    [ $# -eq 1 ] && exit 0 || exit 2
fi
DIR="$1"
BASE_URL="https://openaipublic.blob.core.windows.net/gpt-2/encodings/main"
declare -A SHA256=(
    [encoder.json]=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
    [vocab.bpe]=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
)
mkdir -p "$DIR"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

for name in encoder.json vocab.bpe; do
    dest="$DIR/$name"
    want="${SHA256[$name]}"
    if [ -f "$dest" ] && [ "$(sha_of "$dest")" = "$want" ]; then
        echo "$dest: present, sha256 ok"
        continue
    fi
    part="$dest.part"
    if [ -n "${DATA_MIRROR:-}" ] && [ -f "$DATA_MIRROR/gpt2/$name" ]; then
        echo "copying $DATA_MIRROR/gpt2/$name -> $dest"
        rm -f "$part"
        cp "$DATA_MIRROR/gpt2/$name" "$part"
        chmod u+w "$part"
    else
        [ -n "${DATA_MIRROR:-}" ] && echo "note: DATA_MIRROR=$DATA_MIRROR has no gpt2/$name; downloading instead"
        echo "downloading $BASE_URL/$name -> $dest"
        if ! curl -fL --retry 5 --retry-delay 3 -C - --progress-bar -o "$part" "$BASE_URL/$name"; then
            echo "error: could not download $BASE_URL/$name (no connection?); run again to resume, or set" \
                 "DATA_MIRROR to a folder holding gpt2/encoder.json and gpt2/vocab.bpe" >&2
            exit 1
        fi
    fi
    got="$(sha_of "$part")"
    if [ "$got" != "$want" ]; then
        echo "error: $part has sha256 $got, expected $want: the copy or download is damaged or not GPT-2's file;" \
             "it was removed, run again (or check DATA_MIRROR)" >&2
        rm -f "$part"
        exit 1
    fi
    mv -f "$part" "$dest"
    echo "$dest: sha256 ok"
done
