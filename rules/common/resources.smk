# Each job's resources, in the SLURM plugin's names. GPUs and nodes follow from the engines' config
# (a teacher's TP x PP, a student's launch, eval's TP); partitions, CPUs and memory from config
# `resources`; the time limit from `mot plan`'s estimate of the job. Local runs ignore all but gpu.
RESOURCES = config["resources"]


def student_nodes(student):
    return config["students"][student]["launch"]["nodes"]


def job_resources(stage, gpu=lambda w: 0, nodes=lambda w: 1, jobs=lambda w: 1):
    """`jobs`: how many of the plan's unit jobs this one does (one-job-per-set MoT)."""

    def per_node(w):
        return max(1, gpu(w) // nodes(w))

    res = dict(
        gpu=gpu,
        nodes=nodes,
        slurm_partition=lambda w: RESOURCES["gpu_partition" if gpu(w) else "cpu_partition"],
        cpus_per_task=lambda w: RESOURCES["cpus_per_gpu"] * per_node(w) if gpu(w) else RESOURCES["cpus"],
        mem_mb=lambda w: RESOURCES["mem_mb_per_gpu"] * per_node(w) if gpu(w) else RESOURCES["mem_mb"],
        runtime=lambda w: jobs(w) * runtime(stage(w) if callable(stage) else stage, w),
    )
    if RESOURCES["gpu_model"]:
        res["gpu_model"] = lambda w: RESOURCES["gpu_model"] if gpu(w) else ""
    # One task per node, holding all of that node's GPUs and CPUs: the job's command starts its own
    # processes (accelerate launch, vLLM's workers). The plugin's default for a GPU job is one task per
    # GPU (--ntasks-per-gpu=1), and --cpus-per-task is per task: 8 GPUs x 96 CPUs would ask one node
    # for 768 CPUs, which sbatch refuses. tasks_per_gpu=0 leaves --ntasks-per-gpu out (one task).
    # A job over several nodes: with the `mpi` resource the plugin runs its command as is on the first
    # node (not `srun -n1`), in an allocation of one task per node (`tasks`), and the command starts
    # the other nodes' processes by srun (mot.multinode). None drops the key (CPU jobs: --ntasks=1).
    res["mpi"] = lambda w: "srun" if nodes(w) > 1 else None
    res["tasks"] = lambda w: nodes(w) if nodes(w) > 1 else None
    res["tasks_per_gpu"] = lambda w: 0 if gpu(w) else None
    return res


def runtime(stage, w):
    """Minutes: mot plan's estimate for the GPU stages; its floor for the short CPU ones."""
    if stage == "world_student":
        return pretrain_runtime_minutes(config["students"][w.student]["pretrain"])
    if stage not in STAGES:
        return ASSUMPTIONS["floor_min"]
    return _runtime(stage, getattr(w, "student", None), getattr(w, "teacher", None), getattr(w, "source", None),
                    run_of(w) if stage == "eval" else None)


@functools.cache  # the plan is computed per distinct job kind, not per job (hundreds on the paper's grid)
def _runtime(stage, student, teacher, source, run):
    return job_runtime_minutes(config, stage, student=student, teacher=teacher, source=source, run=run)


def train_resources(stage, jobs=lambda w: 1):
    return job_resources(stage, gpu=lambda w: student_gpus(config, w.student), nodes=lambda w: student_nodes(w.student), jobs=jobs)


def cpu_resources(stage):
    return job_resources(stage)
