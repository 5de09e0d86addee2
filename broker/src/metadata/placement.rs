//! Where a new partition's replicas go.

/// Spreads replicas round robin: partition `p` gets `replication_factor` consecutive brokers
/// starting at `offset + p`, so preferred leaders (the first replica) and replicas are even
/// across brokers. `offset` is the number of partitions the cluster already has, so many
/// one-partition topics do not all lead on the same broker.
pub fn assign(
    brokers: &[u64],
    count: usize,
    replication_factor: usize,
    offset: usize,
) -> Vec<Vec<u64>> {
    if brokers.is_empty() {
        return vec![Vec::new(); count];
    }
    let factor = replication_factor.min(brokers.len());
    (0..count)
        .map(|p| {
            (0..factor)
                .map(|r| brokers[(offset + p + r) % brokers.len()])
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_and_replicas_spread_evenly() {
        let plan = assign(&[1, 2, 3], 6, 3, 0);
        let mut leaders = [0; 4];
        for replicas in &plan {
            assert_eq!(replicas.len(), 3);
            let mut sorted = replicas.clone();
            sorted.sort();
            assert_eq!(sorted, vec![1, 2, 3]);
            leaders[replicas[0] as usize] += 1;
        }
        assert_eq!(&leaders[1..], &[2, 2, 2]);
    }

    #[test]
    fn offset_rotates_and_factor_is_capped() {
        assert_eq!(assign(&[1, 2, 3], 1, 2, 1), vec![vec![2, 3]]);
        assert_eq!(assign(&[7], 2, 3, 5), vec![vec![7], vec![7]]);
    }
}
