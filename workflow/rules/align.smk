# Align stage (Paper B's body-position normalisation): one robust similarity transform per
# video from the neck-crotch axis, applied to the masked frames (square crops, faces blurred)
# and to the cleaned keypoints.


rule align_body:
    input:
        unpack(get_video_input),
        masks="results/mask/{video_id}.npz",
        pose="results/clean/{video_id}.npz",
        code=CODE["align"],
    output:
        clip="results/align/{video_id}.npz",
        pose="results/align/{video_id}.pose.npz",
        info="results/align/{video_id}.json",
        preview=report(
            "results/align/previews/{video_id}.png",
            category="QC",
            subcategory="aligned clips",
            caption="../report/align_preview.rst",
            labels={"video": "{video_id}"},
        ),
    params:
        source=get_source,
        options=config["preprocess"]["align"],
    log:
        "logs/align/{video_id}.log",
    benchmark:
        "benchmarks/align/{video_id}.tsv"
    threads: 1
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/align.py"
