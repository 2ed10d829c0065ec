#!/usr/bin/env bash
# LLM-QFA acceptance run on SmolLM2-135M (issue 9): GPTQ g32 bases, a {2,3,4} supernet (balanced
# and uniform sampling), dedicated 2/3/4-bit QA-LoRA runs with the same steps, subnets at 2.0 ... 4.0
# average bits, searched vs random subnets; ppl on devil (8 windows, ctx 512) and capitals accuracy.
# CPU budget: 1 h 40 min on 2 cores (measured 2026-12-05, machine shared with builds). Results: README.
# Run: R=/some/dir bash Notebooks/qfa_acceptance.sh > qfa.log 2>&1   (Q= the qat binary)
set -u
cd "$(dirname "$0")/.."
Q=${Q:-$PWD/.build/release/qat}; R=${R:-/tmp/qfa-acceptance}; mkdir -p "$R"
S=${S:-160}
T="seqlen=128 samples=128 val=8 batch=1 accum=4 rank=16 group=32 seed=1 steps=$S"
t() { /usr/bin/time -f "wall=%e maxrss_kb=%M" "$@"; }
ev() { # NAME MODEL
  echo "### eval $1"
  t $Q ppl "$2" devil ctx=512 max_windows=8 2>&1 | grep -E "^ppl=|wall=" | sed "s/^/$1 /"
  t $Q mc "$2" capitals 2>&1 | grep -E "^acc=|wall=" | sed "s/^/$1 /"
}
for b in 2 3 4; do
  [ -d $R/gptq-w${b}g32 ] || t $Q quantize smollm2 method=gptq bits=$b group=32 out=$R/gptq-w${b}g32
done
B="base=checkpoint bases=[$R/gptq-w2g32,$R/gptq-w3g32,$R/gptq-w4g32]"
[ -d $R/super-bal ] || t $Q qfa train smollm2 "widths=[2 3 4]" $B $T sampler=balanced out=$R/super-bal
[ -d $R/super-uni ] || t $Q qfa train smollm2 "widths=[2 3 4]" $B $T sampler=uniform out=$R/super-uni
for b in 2 3 4; do
  [ -d $R/ded-w$b ] || t $Q qfa train smollm2 "widths=[$b]" base=checkpoint "bases=[$R/gptq-w${b}g32]" $T out=$R/ded-w$b
done
# subnets
for b in 2 3 4; do
  for s in bal uni; do [ -d $R/sub-$s-$b.0 ] || t $Q qfa subnet $R/super-$s bits=$b out=$R/sub-$s-$b.0; done
  [ -d $R/sub-ded-$b ] || t $Q qfa subnet $R/ded-w$b bits=$b out=$R/sub-ded-$b
done
SR="seqlen=128 val=8 coarse=40 fine=20"
for B2 in 2.5 3.0 3.5; do
  [ -d $R/sub-bal-search-$B2 ] || t $Q qfa subnet $R/super-bal budget=$B2 $SR seed=1 out=$R/sub-bal-search-$B2 > $R/search-$B2.log 2>&1
  tail -3 $R/search-$B2.log
done
for B2 in 2.5 3.0; do for rs in 11 12 13; do
  [ -d $R/sub-bal-rand$rs-$B2 ] || t $Q qfa subnet $R/super-bal budget=$B2 seqlen=128 val=8 coarse=1 fine=0 seed=$rs out=$R/sub-bal-rand$rs-$B2 2>&1 | tail -2
done; done
for b in 2 3 4; do ev gptq-w$b $R/gptq-w${b}g32; ev ded-w$b $R/sub-ded-$b; ev bal-$b.0 $R/sub-bal-$b.0; ev uni-$b.0 $R/sub-uni-$b.0; done
for B2 in 2.5 3.0 3.5; do ev bal-search-$B2 $R/sub-bal-search-$B2; done
for B2 in 2.5 3.0; do for rs in 11 12 13; do ev bal-rand$rs-$B2 $R/sub-bal-rand$rs-$B2; done; done
echo DONE
