-- The demo's add-on line items: every third contract (by id) of the seeded demo accounts
-- also sells an add-on, Analytics or the API (alternately), for the 20 % of its ARR the
-- core item leaves (demo_contract_items_core.sql).
-- Format fields: contract_item, contract, account, product (table names).
-- Parameters: the external_id LIKE pattern of the seeded accounts.
INSERT INTO {contract_item} (contract_id, product_id, quantity, arr)
SELECT c.id, p.id, 1, c.arr - ROUND(c.arr * 0.8, 2)
FROM {contract} c
JOIN {account} a ON a.id = c.account_id
JOIN {product} p ON p.code = CASE WHEN c.id %% 2 = 0 THEN 'ANALYTICS' ELSE 'API' END
WHERE a.external_id LIKE %s AND c.id %% 3 = 0
