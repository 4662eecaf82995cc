"""The VEM share of a kd+VEM train step (section ``vem_share``)."""
import statistics

import keras
import tensorflow as tf

from itgc_tf.eval.latency import time_interleaved
from itgc_tf.perf.networks import build_train_model, demo_images
from itgc_tf.perf.steps import compiled_step, graph_op_counts, peak_rss_mb
from itgc_tf.vem import ebm_loss, mi_loss


def vem_pieces(distiller, x, jit_langevin):
    """No-argument callables of the VEM pieces of ``distiller`` on input ``x``, each
    ending with a host copy: langevin (the chain), critic_update (critic forward and
    backward on [t; t~] and its optimizer step, no chain), mi_term (L_MI and its
    gradient into s), and langevin_xla (the chain under XLA) if ``jit_langevin``."""
    critic, l2, batch = distiller.critic, distiller.vem.energy_l2, x.shape[0]
    t = distiller.teachers[0](x, training=False)
    s = distiller.student(x, training=False)
    seed = tf.constant([0, 1])

    def sampler(jit):
        return tf.function(lambda s: distiller.langevin_sample(s, seed=seed), jit_compile=jit)

    @tf.function
    def critic_update(t, s, t_neg):
        with tf.GradientTape() as tape:
            energies = critic((tf.concat([t, t_neg], 0), tf.concat([s, s], 0)), training=True)
            loss = ebm_loss(energies[:batch], energies[batch:], l2)
        grads = tape.gradient(loss, critic.trainable_variables)
        distiller.critic_optimizer.apply(grads, critic.trainable_variables)
        return loss

    @tf.function
    def mi_term(t, s, t_neg):
        with tf.GradientTape() as tape:
            tape.watch(s)
            loss = mi_loss(critic, t, s, t_neg)
        return tape.gradient(loss, s)

    langevin = sampler(False)
    t_neg = langevin(s)
    fns = {"langevin": lambda: langevin(s).numpy(),
           "critic_update": lambda: critic_update(t, s, t_neg).numpy(),
           "mi_term": lambda: mi_term(t, s, t_neg).numpy()}
    if jit_langevin:
        langevin_xla = sampler(True)
        fns["langevin_xla"] = lambda: langevin_xla(s).numpy()
    return fns


def vem_shares(median):
    """Shares of the kd+VEM step from median seconds {kd_step, kd_vem_step, langevin,
    critic_update[, kd_vem_k0_step]}: fractions in [0, 1] for the pieces (None where a
    figure is missing) and kd_vem_vs_kd, the throughput ratio kd+VEM / kd."""
    vem_s, k0_s = median["kd_vem_step"], median.get("kd_vem_k0_step")
    return dict(
        langevin_share=median["langevin"] / vem_s,
        critic_update_share=median["critic_update"] / vem_s,
        langevin_critic_share=(median["langevin"] + median["critic_update"]) / vem_s,
        langevin_share_in_situ=None if k0_s is None else 1.0 - k0_s / vem_s,
        vem_share_in_situ=1.0 - median["kd_step"] / vem_s,
        kd_vem_vs_kd=median["kd_step"] / vem_s)


def measure_vem_share(spec):
    """kd and kd+VEM steps (XLA off) and the VEM pieces on the same shapes, timed
    interleaved.

    spec: {size, batch, repeats, in_situ (adds a kd+VEM step with K=0), langevin_xla
    (adds the chain under XLA)}. Figures left out are None. Times in seconds.
    """
    keras.utils.set_random_seed(0)
    size, batch = spec["size"], spec["batch"]
    data = demo_images(size, batch)
    variants = [("kd", "kd", 10), ("kd_vem", "kd_vem", 10)]
    variants += [("kd_vem_k0", "kd_vem", 0)] if spec["in_situ"] else []
    models = {name: build_train_model(config, size, False, langevin_steps=k)
              for name, config, k in variants}
    fns, traced = {}, {}
    for name, model in models.items():
        fns[f"{name}_step"], traced[name] = compiled_step(model, data)
    distiller = models["kd_vem"]
    fns |= vem_pieces(distiller, tf.constant(data["A"]), spec["langevin_xla"])
    for fn in fns.values():  # first calls: tracing and compilation
        fn()
    median = {name: statistics.median(wall)
              for name, (wall, _) in time_interleaved(fns, spec["repeats"], warmup=0).items()}
    step_traces, step_graph = traced["kd_vem"]()
    ops = graph_op_counts(step_graph.as_graph_def())
    return dict(
        size=size, batch=batch, critic_blocks=distiller.vem.critic_blocks,
        kd_step_s=median["kd_step"], kd_vem_step_s=median["kd_vem_step"],
        kd_vem_k0_step_s=median.get("kd_vem_k0_step"),
        langevin_s=median["langevin"], langevin_xla_s=median.get("langevin_xla"),
        critic_update_s=median["critic_update"], mi_term_s=median["mi_term"],
        **vem_shares(median),
        step_traces=step_traces, step_while_loops=ops["While"] + ops["StatelessWhile"],
        step_loop_accumulators=ops["TensorListPushBack"], peak_rss_mb=peak_rss_mb())
