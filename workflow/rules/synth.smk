# The embedded synthetic cohorts: videos plus exact truth.  data.task gait: children walking
# (joints, gait parameters); infant: supine infants seen from above (joints, movement
# parameters, body placement, figure masks).


rule write_cohort_sheet:
    localrule: True
    input:
        code=CODE["write_sheet"] + COHORT_CODE,
    output:
        "results/synth/samples.tsv",
    params:
        cohort=COHORT,
        task=TASK,
    log:
        "logs/synth/samples.log",
    benchmark:
        "benchmarks/synth/samples.tsv"
    conda:
        "../../envs/motorflow.yaml"
    script:
        "../scripts/write_sheet.py"


if TASK_SPEC.cohort == "infant":

    rule render_infant_video:
        input:
            code=CODE["render_infant_video"],
        output:
            video="results/synth/videos/{video_id}.mp4",
            truth="results/synth/truth/{video_id}.npz",
            params="results/synth/truth/{video_id}.json",
            masks="results/synth/truth/{video_id}.masks.npz",
        params:
            cohort=render_params,
            subject_id=lambda wc: samples.loc[wc.video_id, "subject_id"],
        log:
            "logs/synth/{video_id}.log",
        benchmark:
            "benchmarks/synth/{video_id}.tsv"
        threads: 1
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/render_infant_video.py"

else:

    rule render_video:
        input:
            code=CODE["render_video"],
        output:
            video="results/synth/videos/{video_id}.mp4",
            truth="results/synth/truth/{video_id}.npz",
            params="results/synth/truth/{video_id}.json",
        params:
            cohort=render_params,
            subject_id=lambda wc: samples.loc[wc.video_id, "subject_id"],
            view=lambda wc: samples.loc[wc.video_id, "view"],
        log:
            "logs/synth/{video_id}.log",
        benchmark:
            "benchmarks/synth/{video_id}.tsv"
        threads: 1
        conda:
            "../../envs/motorflow.yaml"
        script:
            "../scripts/render_video.py"
