"""The embedded synthetic cohorts (stage ``synth``): videos with exact truth for both tasks.

One module per role and task; the rules, the CLI and the tests import the module they use,
so that each rule's code inputs (``CODE`` in ``workflow/rules/common.smk``) are only what it
runs (this file imports nothing, on purpose: importing a submodule runs it).

``gait_cohort``    data.task gait: GMFCS-like levels I–IV, subjects' gait parameters and
                   anthropometry, the sample sheet (``cohort_config``, ``make_sheet``)
``gait_motion``    the kinematic walker: clinical parameters → 3D joints and gait truth
``gait_render``    a clothed walker filmed in a room, in the realistic or classic style
                   (``render_video``: the video and its truth files)
``infant_cohort``  data.task infant: general-movement classes, subjects' movement
                   parameters and ages, the sample sheet (``cohort_config``, ``make_sheet``)
``infant_motion``  the supine infant's body and its joint-angle oscillators → 2D joints
``infant_render``  the infant placed on a mat and filmed from above (``render_video``: the
                   video, its truth files and figure masks; ``load_masks``)
``common``         shared by both: keyed random streams, skin tones, limb drawing, smooth
                   noise, the sheet and truth writers (``write_sheet``, ``write_truth``)
"""
