-- The demo's core line items: every contract of the seeded demo accounts sells the
-- platform product of its account's plan, quantity = its seats (1 without), for all of the
-- contract's ARR, or 80 % of it on the contracts that also sell an add-on (every third
-- contract by id; demo_contract_items_addon.sql writes the other 20 %).
-- Format fields: contract_item, contract, account, product (table names).
-- Parameters: the external_id LIKE pattern of the seeded accounts.
INSERT INTO {contract_item} (contract_id, product_id, quantity, arr)
SELECT c.id, p.id, COALESCE(c.seats, 1),
       CASE WHEN c.id %% 3 = 0 THEN ROUND(c.arr * 0.8, 2) ELSE c.arr END
FROM {contract} c
JOIN {account} a ON a.id = c.account_id
JOIN {product} p ON p.code = CASE a.plan
    WHEN 'enterprise' THEN 'CS-ENTERPRISE'
    WHEN 'pro' THEN 'CS-PRO'
    WHEN 'starter' THEN 'CS-STARTER'
    ELSE 'CS-FREE' END
WHERE a.external_id LIKE %s
