# Training and MoT (rules/train.smk): the SFT settings, the students' bases and launches.
TEACHER_SETS = list(SETS)  # with the merge-method variants
CONFIG_SETS = G.config_sets  # the paper's tables and figures show these
TRAIN = config["train"]
ROUNDS = G.rounds
def branch_arg(spec):
    """mot train's --spec for a MoT branch (a mot.rounds.BranchJob's TrainSpec): the run's SFT keys,
    its steps and lr schedule, and under train.optimizer_state: carry the AdamW state it saves and the
    one (the teacher's branch of the round before) it continues."""
    carry = {"save_optimizer": True} if spec.save_optimizer else {}
    if spec.init_optimizer:
        carry["init_optimizer"] = spec.init_optimizer
    return dict(hparams=hparams_values(TRAIN), steps=spec.steps, start_step=spec.start_step, total_steps=spec.total_steps,
                schedule_start=spec.schedule_start, seed=spec.seed, **carry)


def base_model(student):
    """The student's initial weights: shipped or built by rule world_student, or a hub id / local path."""
    s = config["students"][student]
    if s["init"] != "synthetic":
        return s["path"]
    return L.synthetic_base(student, base_key(config["world"], s["arch"], s["pretrain"], code("world-student")))


def base_input(student):
    """The base as an input: a local path (built by a rule: the synthetic world's, the rehearsal's tiny
    models; or the user's directory), not a hub id (fetched by the job)."""
    return model_input(base_model(student))


def model_input(path):
    return [] if is_hub_id(path) else [path]


def launch_files(student):
    """The accelerate config a training job of this student launches with (an input: editing its FSDP
    or DeepSpeed settings reruns the training), if any."""
    spec = config["students"][student]["launch"]
    return [spec["accelerate_config"]] if spec["processes"] > 1 and spec.get("accelerate_config") else []


def launch(student):
    """How a training job of this student starts: one process, or `accelerate launch` over the
    student's processes (GPUs) with its accelerate config (FSDP, DeepSpeed ZeRO-3); over launch.nodes
    > 1 nodes, one per node (mot.multinode adds each node's --machine_rank and the first node's address)."""
    spec = config["students"][student]["launch"]
    n = spec["processes"]
    if n == 1:
        return "python3 -m mot"
    args = [f"--num_processes {n}", f"--num_machines {spec['nodes']}"]
    if spec["nodes"] == 1:  # a free port: two training jobs on one node must not meet on 29500
        args.append("--main_process_port $(python3 -c 'import socket; s = socket.socket(); "
                    "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])')")
    if spec.get("accelerate_config"):
        args.append(f"--config_file {spec['accelerate_config']}")
    else:  # plain data parallel (on CPU: gloo)
        args.append("--multi_gpu --mixed_precision no --dynamo_backend no")
    if spec.get("fsdp_wrap"):
        args.append(f"--fsdp_transformer_layer_cls_to_wrap {spec['fsdp_wrap']}")
    if spec["nodes"] > 1:  # one accelerate launch per node, with its machine rank and the first node's address
        return f"python3 -m mot.multinode accelerate -- {' '.join(args)} -m mot"
    return f"python3 -m accelerate.commands.launch {' '.join(args)} -m mot"


# Merge-of-Thought's jobs: one plan of the rounds (mot.rounds.plan), its jobs by wildcards.
MOT_TEACHERS = G.mot_teachers  # round-1 branches are shared by all teacher sets: every teacher any set uses
MOT_CFG = config["mot"]
PER_BRANCH = MOT_CFG["jobs"] == "per_branch"


@functools.cache
def mot_plan(student, source, tset):
    """mot.rounds.plan of a teacher set's MoT with the paths of mot.layout: the jobs that rules
    mot_first_branch, mot_branch and mot_merge run, the one plan that `mot branches` and `mot rounds`
    run in one process each (mot.jobs: per_set)."""
    return plan_rounds(RoundsSpec.of(rounds_values(config, *merge_method(tset))), SETS[tset], base_model(student),
                       lambda t, k: L.branch_dir(student, source, tset, t, k),
                       lambda t: L.merged_dir(student, source, tset, t))


def mot_job(w):
    """The planned job that a MoT rule's wildcards name: a teacher's branch of a round, or its merge.
    Round 1's branches are the same in every teacher set (mot_first_branch has no tset): any set's."""
    teacher, round_ = getattr(w, "teacher", None), int(getattr(w, "round", 1))
    tset = getattr(w, "tset", None) or next(s for s in SETS if teacher in SETS[s])
    return next(j for j in mot_plan(w.student, w.source, tset)
                if j.round == round_ and getattr(j, "teacher", None) == teacher)


def sft_models():
    return [L.run_dir(st, so, L.sft_run(c)) for st in STUDENTS for so in SOURCES for c in TEACHERS + [L.MTD]]


def mot_outputs(student, source, tset):
    """What the MoT jobs of a teacher set write: the run directory (one job per set), or every
    round's merged model (one job per branch and merge)."""
    if PER_BRANCH:
        return [L.merged_dir(student, source, tset, t) for t in ROUNDS]
    return [L.run_dir(student, source, L.mot_run(tset))]


def mot_branches(student, source, tset):
    """Every branch of a teacher set's MoT, round 1's shared ones included."""
    return [L.branch_dir(student, source, tset, t, k) for t in ROUNDS for k in SETS[tset]]


def mot_models():
    return [p for st in STUDENTS for so in SOURCES for ts in TEACHER_SETS for p in mot_outputs(st, so, ts)]
